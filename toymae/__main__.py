import sys

from toymae.cli import main

sys.exit(main())
