from aae_cli.cli.app import main

main()
