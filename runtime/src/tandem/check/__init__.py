"""Health checkers of real servers (HTTP_GET, SSL_GET, TCP_CHECK, MISC_CHECK, DNS_CHECK, SMTP_CHECK,
PING_CHECK, UDP_CHECK, FILE_CHECK): async I/O that reports one result per check, never raising."""
