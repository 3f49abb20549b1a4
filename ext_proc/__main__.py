from ext_proc.cli import main

raise SystemExit(main())
