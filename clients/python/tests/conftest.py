import sys
from pathlib import Path

# The runner module sits beside the tests; the package itself is imported from where pip installed it.
sys.path.insert(0, str(Path(__file__).parent))
