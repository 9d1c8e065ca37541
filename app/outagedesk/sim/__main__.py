import sys

from outagedesk.sim.cli import main

sys.exit(main())
