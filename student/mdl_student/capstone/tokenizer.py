"""A word-level tokenizer made in code: no download, the same ids every time.

The vocabulary is the special tokens, the ten digits, ``+ = . ,`` and the
words of the two tasks (see ``data.py``).  Text is split on whitespace, every
digit is a token of its own and punctuation is split off, so ``"12+7=19"``
becomes ``1 2 + 7 = 1 9``.  It is wrapped as a ``transformers``
``PreTrainedTokenizerFast`` so that TRL's ``DPOTrainer`` accepts it.

Because the prompt always ends on a token boundary, the tokens of
``prompt`` are a prefix of the tokens of ``prompt + completion``: TRL then
finds the completion exactly where it starts.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from . import data

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, EOS, UNK)


def vocabulary() -> list[str]:
    """All tokens, special tokens first, in a fixed order."""
    words = (
        data.DIGITS
        + data.SYMBOLS
        + data.CONNECTIVES
        + data.PROMPT_WORDS
        + data.NOUNS
        + data.POSITIVE
        + data.NEGATIVE
        + data.NEUTRAL
    )
    return list(SPECIAL_TOKENS) + list(dict.fromkeys(words))  # dict keeps order, drops repeats


@lru_cache(maxsize=1)
def build_tokenizer() -> PreTrainedTokenizerFast:
    """The capstone tokenizer; pad and eos are distinct tokens."""
    vocab = {token: i for i, token in enumerate(vocabulary())}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.Punctuation(behavior="isolated"),
        ]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD,
        eos_token=EOS,
        unk_token=UNK,
        padding_side="right",
    )
    return tokenizer


def decode_completion(token_ids: list[int], task: str) -> str:
    """Text of generated ids, cut at the first EOS (which is dropped).

    Arithmetic answers are digits written together (``"19"``); sentiment
    completions are words with a leading space, as in the data (``" fun ."``).
    """
    tokenizer = build_tokenizer()
    tokens = []
    for token in tokenizer.convert_ids_to_tokens(list(token_ids)):
        if token == EOS:
            break
        tokens.append(token)
    if task == "arithmetic":
        return "".join(tokens)
    return " " + " ".join(tokens) if tokens else ""


def encode_example(prompt: str, completion: str) -> tuple[list[int], int]:
    """Token ids of ``prompt + completion + EOS``, and the index where the completion starts."""
    tokenizer = build_tokenizer()
    start = len(tokenizer(text=prompt)["input_ids"])
    return tokenizer(text=prompt + completion + tokenizer.eos_token)["input_ids"], start


def pad_batch(examples: list[tuple[list[int], int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``completion_mask`` (1 on completion tokens).

    The same layout as TRL's ``DataCollatorForPreference``.
    """
    pad_id = build_tokenizer().pad_token_id
    length = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), length), dtype=torch.long)
    completion_mask = torch.zeros((len(examples), length), dtype=torch.long)
    for i, (ids, start) in enumerate(examples):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        attention_mask[i, : len(ids)] = 1
        completion_mask[i, start : len(ids)] = 1
    return input_ids, attention_mask, completion_mask
