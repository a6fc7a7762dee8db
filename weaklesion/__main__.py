import sys

from weaklesion.cli import main

sys.exit(main())
