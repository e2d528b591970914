CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL UNIQUE,
    user_id TEXT,
    plan TEXT NOT NULL DEFAULT 'pro',
    status TEXT NOT NULL,
    paid_at TEXT,
    created_at TEXT
);
