from rnncast.cli import main

main()
