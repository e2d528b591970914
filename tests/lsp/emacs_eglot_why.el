;;; emacs_eglot_why.el --- Emacs' eglot runs Flux's "Why" code action, in batch mode.
;; Opens $FLUX_FILE in python-mode, connects eglot to `flux lsp` ($FLUX_PYTHON -m flux_lsp lsp),
;; waits for the flux diagnostic in Flymake, then runs `eglot-code-actions' at it as a user
;; does, with "Flux: Why" picked at the prompt. The diagnostic, the action titles and what the
;; server showed (window/showMessage) are written as JSON to $FLUX_OUT.
(require 'eglot)
(require 'json)

(let ((python (getenv "FLUX_PYTHON")))
  (add-to-list 'eglot-server-programs
               `(python-mode . (,python "-m" "flux_lsp" "lsp"))))

(defvar flux-shown nil)
(defvar flux-titles nil)
(advice-add 'eglot-handle-notification :before
            (lambda (_server method &rest params)
              (when (eq method 'window/showMessage)
                (push (plist-get params :message) flux-shown))))

(defun flux-wait (predicate seconds)
  (let ((deadline (+ (float-time) seconds)))
    (while (and (not (funcall predicate)) (< (float-time) deadline))
      (accept-process-output nil 0.05)
      (flymake-start))))

(add-hook 'project-find-functions  ; the project's root, as a version-controlled folder gives it
          (lambda (_dir) (cons 'transient (file-name-as-directory (getenv "FLUX_PROJECT")))))
(find-file (getenv "FLUX_FILE"))
(python-mode)
(eglot '(python-mode) (project-current) 'eglot-lsp-server
       `(,(getenv "FLUX_PYTHON") "-m" "flux_lsp" "lsp") "python")
(flux-wait (lambda () (flymake-diagnostics)) 60)
(let* ((diag (car (flymake-diagnostics)))
       (line (line-number-at-pos (flymake-diagnostic-beg diag))))
  (goto-char (flymake-diagnostic-beg diag))
  (let ((completing-read-function
         (lambda (_prompt collection &rest _)
           (setq flux-titles (mapcar #'car collection))
           (seq-find (lambda (title) (string-prefix-p "Flux: Why" title)) flux-titles)))
        (last-nonmenu-event 0))
    (eglot-code-actions (point) nil nil t))
  (flux-wait (lambda () flux-shown) 60)
  (with-temp-file (getenv "FLUX_OUT")
    (insert (json-encode `((line . ,line)
                           (diagnostic . ,(flymake-diagnostic-text diag))
                           (titles . ,(vconcat flux-titles))
                           (shown . ,(vconcat (reverse flux-shown))))))))
(kill-emacs 0)
