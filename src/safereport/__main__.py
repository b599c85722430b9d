from safereport.cli import main

main()
