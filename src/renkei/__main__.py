from renkei.cli.main import main

main()
