;;; emacs_lsp_mode_why.el --- Emacs' lsp-mode runs Flux's "Why" code action, in batch mode.
;; The README's lsp-mode registration (an add-on client, so it can run beside pyright or
;; pylsp), started on $FLUX_FILE with `flux lsp' ($FLUX_PYTHON -m flux_lsp lsp). Waits for the
;; flux diagnostic, asks for the code actions on its line and executes "Flux: Why". The
;; diagnostic, the action titles and what the server showed (window/showMessage) are written as
;; JSON to $FLUX_OUT.
(require 'lsp-mode)
(require 'json)
(setq lsp-auto-guess-root t
      lsp-enable-file-watchers nil
      lsp-warn-no-matched-clients nil
      lsp-diagnostics-provider :none
      lsp-session-file (expand-file-name "lsp-session" (getenv "HOME")))
(defvar flux-shown nil)
(lsp-register-client
 (make-lsp-client
  :new-connection (lsp-stdio-connection (list (getenv "FLUX_PYTHON") "-m" "flux_lsp" "lsp"))
  :activation-fn (lambda (file _mode)
                   (and (string-suffix-p ".py" file)
                        (or (locate-dominating-file file "flux.toml")
                            (locate-dominating-file file "functions"))))
  :add-on? t
  :server-id 'flux
  :notification-handlers
  (ht ("window/showMessage"
       (lambda (_workspace params) (push (gethash "message" params) flux-shown))))))

(defun flux-wait (predicate seconds)
  (let ((deadline (+ (float-time) seconds)))
    (while (and (not (funcall predicate)) (< (float-time) deadline))
      (accept-process-output nil 0.05))))

(add-hook 'project-find-functions  ; the project's root, as a version-controlled folder gives it
          (lambda (_dir) (cons 'transient (file-name-as-directory (getenv "FLUX_PROJECT")))))
(find-file (getenv "FLUX_FILE"))
(python-mode)
(lsp)
(flux-wait (lambda () (> (hash-table-count (lsp-diagnostics t)) 0)) 60)
(let* ((diag (car (gethash (lsp--fix-path-casing (buffer-file-name)) (lsp-diagnostics t))))
       (line (lsp:position-line (lsp:range-start (lsp:diagnostic-range diag)))))
  (goto-char (point-min))
  (forward-line line)
  (let* ((actions (lsp-code-actions-at-point))
         (titles (mapcar #'lsp:code-action-title actions)))
    (lsp-execute-code-action
     (seq-find (lambda (a) (string-prefix-p "Flux: Why" (lsp:code-action-title a))) actions))
    (flux-wait (lambda () flux-shown) 60)
    (with-temp-file (getenv "FLUX_OUT")
      (insert (json-encode `((line . ,(1+ line))
                             (diagnostic . ,(lsp:diagnostic-message diag))
                             (titles . ,(vconcat titles))
                             (shown . ,(vconcat (reverse flux-shown)))))))))
(kill-emacs 0)
