"""The search page: one static HTML file (inline CSS and JavaScript, no remote resource) that
``retrieval serve --index C`` serves at ``/`` and ``retrieval search --html`` fills with
results for a self-contained export.

Modules: ``page`` (assembles the HTML and its Content-Security-Policy), ``views`` (what the
page shows of a hit: snippet parts, score kinds, bounded page images and similarity maps -
no FastAPI), ``export`` (the ``--html`` file). The routes are ``adapters.server.routes_page``.
"""
