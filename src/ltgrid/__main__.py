from ltgrid.cli import main

raise SystemExit(main())
