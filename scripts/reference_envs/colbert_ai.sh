# Stanford ColBERT (colbert-ai 0.2.22), the reference for HF_ColBERT checkpoints
# (tests/reference/test_colbert_stanford.py). Its "torch" extra pins torch 1.13, so torch comes
# first. Encoding with `colbert.modeling.checkpoint.Checkpoint` imports transformers, scipy,
# ujson and GitPython (run metadata), and compiles colbert-ai's segmented_maxsim C++ extension
# with ninja + g++ on first use (stanford_colbert.py keeps that build in this environment);
# datasets, flask and bitarray serve training, the server and indexes only, so colbert-ai goes
# in with --no-deps. Its HF_ColBERT wrapper predates transformers 5 (from_pretrained fails on
# `all_tied_weights_keys`), hence the last 4.x.
pip_install torch==2.13.0
pip_install "transformers==4.57.6" scipy ujson GitPython ninja
pip_install --no-deps "colbert-ai==0.2.22"
