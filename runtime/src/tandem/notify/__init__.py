"""Notifications: notify scripts, notify FIFO lines, smtp_alert e-mails — in event order, never blocking VRRP.

scripts.ScriptPolicy / run_script — running configured scripts (user, timeout, script security)
notifier.Notifier                 — notify(NotifyEvent) at once; scripts and mail run in queued tasks
mail.Mailer, mail.SmtpSettings    — smtp_alert through smtp_server (STARTTLS and AUTH as extensions)
"""
