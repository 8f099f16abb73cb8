"""``python -m photonflow`` runs the ``photonflow`` command."""

import sys

from photonflow.cli import main

sys.exit(main())
