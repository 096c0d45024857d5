"""gunicorn settings for myoffice-reports behind nginx (see deploy/README.md).

Worker type: gthread. nginx reads every upload in full before passing it on
(proxy_request_buffering), so a reporter on a slow line ties up nginx, not a worker; threads
then let one process serve several quick requests while another waits on the database or
streams a download to nginx. No gevent/eventlet: the database drivers would need patching.
"""

import multiprocessing
import os

# Loopback only: nginx is the one door in, and the app trusts forwarded headers only from it.
bind = os.environ.get("REPORTS_BIND", "127.0.0.1:8000")
wsgi_app = "app:wsgi()"
chdir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

worker_class = "gthread"
# Two processes per core (plus one) keep the CPU busy while others wait on I/O. Two threads
# each, not more: pages are CPU work under one interpreter lock, and threads of one process
# wait for each other's turn at it. Measured on 2 cores at 10x data (bench/RESULTS.md), the
# heaviest pages served 1.5-2x more requests a second with 1-2 threads than with 4; the
# second thread keeps a process answering while the other streams a download or a zip.
workers = int(os.environ.get("REPORTS_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("REPORTS_THREADS", 2))
# A 50 MB upload is checked (type, size, checksum) and written before the answer.
timeout = 120
graceful_timeout = 30
keepalive = 5
# Recycle a worker now and then, so a slow leak cannot grow for months.
max_requests = 2000
max_requests_jitter = 200

# gunicorn would itself believe X-Forwarded-Proto from 127.0.0.1; the app decides instead,
# from REPORTS_TRUSTED_PROXIES, so there is one rule and one place to set it.
forwarded_allow_ips = ""
secure_scheme_headers = {}
# Header names with "_" are dropped (gunicorn's default, kept explicit): "X_Remote_User"
# must not become the same WSGI key as "X-Remote-User".
header_map = "drop"

# gunicornc's control socket would land in the service user's home, which the unit hides.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
# No query strings in the log: a portal link's one-time token travels in one.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(L)ss'
