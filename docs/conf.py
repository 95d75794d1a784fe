"""Sphinx settings of flask-import-abort's documentation: the Pallets "flask" theme, MyST
Markdown pages, and an API reference made by autodoc from the docstrings.

``make docs`` builds it with warnings as errors (``-W``) and every reference checked (``-n``).
Intersphinx links to Flask, Werkzeug, SQLAlchemy, marshmallow, flask-smorest and Celery where
their inventories can be fetched (Read the Docs); ``IMPORT_ABORT_DOCS_INTERSPHINX=0`` turns it
off for a machine that reaches no documentation site, as ``make test`` does.
"""

from __future__ import annotations

import os

from pallets_sphinx_themes import ProjectLink

import flask_import_abort

project = "flask-import-abort"
copyright = "the flask-import-abort authors"
release = flask_import_abort.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "myst_parser",
    "pallets_sphinx_themes",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "pypi.md"]
myst_heading_anchors = 3
myst_enable_extensions = ["deflist"]

autodoc_typehints = "description"
#: The sidebar lists a page's sections, not every class and method of the reference.
toc_object_entries = False
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}

INTERSPHINX = os.environ.get("IMPORT_ABORT_DOCS_INTERSPHINX", "1") != "0"
intersphinx_mapping = (
    {
        "python": ("https://docs.python.org/3/", None),
        "flask": ("https://flask.palletsprojects.com/en/stable/", None),
        "werkzeug": ("https://werkzeug.palletsprojects.com/en/stable/", None),
        "sqlalchemy": ("https://docs.sqlalchemy.org/en/20/", None),
        "marshmallow": ("https://marshmallow.readthedocs.io/en/stable/", None),
        "flask_smorest": ("https://flask-smorest.readthedocs.io/en/latest/", None),
        "celery": ("https://docs.celeryq.dev/en/stable/", None),
    }
    if INTERSPHINX
    else {}
)

nitpicky = True
#: References Sphinx cannot resolve here, each with why.
nitpick_ignore_regex = [
    # Libraries without a Sphinx inventory in intersphinx_mapping: named in signatures only.
    ("py:class", r"(rq|redis|prometheus_client|apispec|webargs|click|blinker)(\..*)?"),
    # The package's internal modules' names (underscored), named in public signatures.
    ("py:class", r"flask_import_abort\.(.*\.)?_\w+.*"),
    # Type aliases and typing helpers, which autodoc writes by their names.
    ("py:class", r"(Authorizer|ForceStop|Result|Check|T|Batch|Engine|Row|CursorResult|Item)"),
    ("py:class", r"(AbstractContextManager|Namespace|Api|AbortOutcome)"),
    ("py:class", r"flask_import_abort\.processes\.(run\.Batch|parallel\.Item)"),
    ("py:class", r"flask_import_abort\.operators\.mirror\.Engine"),
    # Attributes and methods the docstrings name are described in their class's text, not
    # entries of their own.
    ("py:attr", r".*"),
    ("py:meth", r"(WorkerRegistry|SQLImportRegistry)\..*"),
]
if not INTERSPHINX:
    # With intersphinx off, the other projects' and Python's own names cannot resolve; with it
    # on (Read the Docs), they link.
    nitpick_ignore_regex += [
        ("py:class", r"(flask|werkzeug|sqlalchemy|marshmallow|flask_smorest|celery)(\..*)?"),
        ("py:class", r"(Flask|Request|Response|App|MetaData|Table|URL|Connection|Dialect)"),
        ("py:class", r"(CollectorRegistry|Celery|Queue|Job|Task)"),
        ("py:class", r"(datetime|timedelta|Path|Callable|Iterable|Iterator|Mapping|Sequence)"),
        ("py:class", r"(Any|object|NoneType|Exception|BaseException|KeyError|RuntimeError)"),
        ("py:class", r"(asyncio|enum|contextvars|datetime|collections|typing|os|threading)\..*"),
        ("py:class", r"concurrent\.futures\..*"),
        ("py:class", r"(str|int|float|bool|bytes|dict|list|tuple|set|frozenset|type)"),
        ("py:class", r"(Enum|Protocol|ValueError|TypeError|SystemExit)"),
        ("py:exc", r".*"),
        ("py:func", r"(flask|werkzeug|sqlalchemy|celery)\..*"),
        ("py:meth", r"(flask|werkzeug|sqlalchemy|celery)\..*"),
        ("py:data", r".*"),
    ]

html_theme = "flask"
html_theme_options = {"index_sidebar_logo": False}
html_context = {
    "project_links": [
        ProjectLink("Source Code", "https://github.com/flask-import-abort/flask-import-abort"),
        ProjectLink(
            "Changes",
            "https://github.com/flask-import-abort/flask-import-abort/blob/main/CHANGELOG.md",
        ),
    ]
}
html_sidebars = {
    "index": ["project.html", "localtoc.html", "searchbox.html"],
    "**": ["localtoc.html", "relations.html", "searchbox.html"],
}
html_title = f"flask-import-abort {version}"
html_static_path = ["_static"]
html_css_files = ["wide-tables.css"]
html_show_sourcelink = False
