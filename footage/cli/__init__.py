"""The command line: `footage index|search|stats|remove`, each a thin layer over footage.Library."""
