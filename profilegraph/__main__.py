from profilegraph.cli import main

main()
