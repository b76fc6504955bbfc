from quba.cli import main

raise SystemExit(main())
