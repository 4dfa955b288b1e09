from autodiffcli.cli import main

main()
