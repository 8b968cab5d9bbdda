# colpali-engine's ColQwen3 + ColQwen3Processor, the reference for ColQwen3 checkpoints
# (tests/reference/test_colqwen3_colpali.py). colpali-engine declares torchvision, whose PyPI
# wheel is a CUDA build that cannot load its C++ ops beside the CPU torch; its Python
# transforms (all transformers' image processor uses) run fine, so it comes in with
# --no-deps and the reference script declares the two missing op schemas before importing
# it (tests/reference/scripts/colpali_colqwen3.py). peft / accelerate are for training only.
pip_install "torch==2.13.0"
pip_install "transformers==5.25.0" "pillow>=10" "numpy>=1.26" "safetensors>=0.4"
pip_install --no-deps "colpali-engine==0.3.18" "torchvision==0.28.0"
