"""`python -m services.catalog`: run the catalog service."""

from services.catalog.app import main
from services.shared.server import run

run(main)
