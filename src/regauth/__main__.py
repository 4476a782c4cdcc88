from regauth.cli.main import main

raise SystemExit(main())
