"""`python -m services.analytics`: the analytics gRPC service."""

from services.analytics.app import main
from services.shared.server import run

run(main)
