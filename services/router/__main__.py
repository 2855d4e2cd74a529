"""`python -m services.router`: run the router service."""

from services.router.app import main
from services.shared.server import run

run(main)
