# PyLate 1.6.0, the reference for PyLate ColBERT folders (tests/reference/test_colbert_pylate.py).
# PyLate pins sentence-transformers 5.3 / transformers <= 5.3 (the project runs 6.x / 5.25) and
# pulls fast-plaid (torch 2.11 + CUDA), fastkmeans and ninja for its PLAID index. Encoding needs
# none of those: `from pylate import models` imports sentence-transformers, transformers, scipy,
# datasets (pylate.utils.processing) and numpy, so pylate itself goes in with --no-deps.
pip_install torch==2.13.0
pip_install "transformers==5.3.0" "sentence-transformers==5.3.0" "datasets>=2.20" scipy
pip_install --no-deps "pylate==1.6.0"
