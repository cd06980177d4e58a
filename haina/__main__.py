from haina.cli import main

main()
