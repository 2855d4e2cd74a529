"""`python -m services.edge`: run the edge (the public OpenAI-compatible HTTP API)."""

from services.edge.app import main
from services.shared.server import run

run(main)
