from outagedesk.cli import main

raise SystemExit(main())
