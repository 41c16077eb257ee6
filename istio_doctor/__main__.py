from istio_doctor.cli import main

raise SystemExit(main())
