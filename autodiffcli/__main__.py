from autodiffcli.launch import main

main()
