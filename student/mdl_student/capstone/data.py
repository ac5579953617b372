"""Synthetic preference tasks, generated in code and deterministic per seed.

Two tasks, both small enough to train on two CPU cores:

``arithmetic``
    Prompt ``"12+7="``; the chosen answer is right (``"19"``), the rejected one
    a near miss (``"18"``, ``"29"``, ``"91"``).  The SFT demonstrations come
    from a sloppy annotator who is right 70% of the time, so the SFT model
    hesitates between the right answer and near misses; DPO should make it
    prefer the right one.

``sentiment``
    In the spirit of the controlled-sentiment experiment of the DPO paper
    (IMDb, Rafailov et al. 2023, section 6.1): the prompt opens a review
    (``"honestly the plot felt"``), a completion is a few adjectives
    (``" dull and superb ."``).  The scripted reward counts positive minus
    negative words.  SFT demonstrations have mixed sentiment; a preference
    pair is two such completions, the one with the higher reward chosen.

Prompts are split into train and held-out prompts.  SFT sees all prompts
(it plays the part of pretraining); DPO trains on pairs from train prompts
only, and evaluation uses held-out prompts, so a good held-out score means
the learned preference generalises.

Everything here is plain Python (``random.Random(seed)``), no torch.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .config import TASKS, Profile

# --- vocabularies (the tokenizer is built from these) ----------------------

POSITIVE = ("great", "superb", "moving", "brilliant", "fun", "charming", "witty", "lovely")
NEGATIVE = ("dull", "awful", "boring", "clumsy", "bland", "weak", "messy", "tedious")
NEUTRAL = ("long", "loud", "quiet", "simple", "odd", "typical")
CONNECTIVES = ("and", "but", ",")
NOUNS = ("movie", "film", "plot", "acting", "ending", "story", "music", "cast", "script", "dialogue")
OPENINGS = ("the {} was", "i thought the {} was", "honestly the {} felt", "to me the {} seemed")
PROMPT_WORDS = ("the", "was", "i", "thought", "honestly", "felt", "to", "me", "seemed")
SYMBOLS = ("+", "=", ".")
DIGITS = tuple("0123456789")

ANNOTATOR_ACCURACY = 0.7  # how often the sloppy arithmetic annotator is right


@dataclass(frozen=True)
class PreferencePair:
    prompt: str
    chosen: str
    rejected: str


@dataclass(frozen=True)
class Demonstration:
    prompt: str
    completion: str


@dataclass(frozen=True)
class TaskData:
    """Everything one (task, profile, seed) needs, split by stage."""

    task: str
    sft: list[Demonstration]  # all prompts
    train_pairs: list[PreferencePair]  # train prompts only
    heldout_pairs: list[PreferencePair]  # held-out prompts only
    heldout_prompts: list[str]


# --- scripted rewards --------------------------------------------------------


def sentiment_reward(completion: str) -> float:
    """Scripted reward: number of positive words minus number of negative words."""
    words = completion.split()
    return float(sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words))


def arithmetic_answer(prompt: str) -> int:
    """The right answer to a prompt ``"a+b="``."""
    a, b = prompt.rstrip("=").split("+")
    return int(a) + int(b)


def arithmetic_reward(prompt: str, completion: str) -> float:
    """Scripted reward: 1 for an exactly right answer, else 0."""
    return float(completion.strip() == str(arithmetic_answer(prompt)))


def scripted_reward(task: str, prompt: str, completion: str) -> float:
    """The task's scripted judge, on text (completion without the EOS token)."""
    if task == "arithmetic":
        return arithmetic_reward(prompt, completion)
    if task == "sentiment":
        return sentiment_reward(completion)
    raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")


# --- arithmetic --------------------------------------------------------------


def near_misses(answer: int) -> list[int]:
    """Plausible wrong answers: off by one, off by ten, digits swapped."""
    misses = {answer - 1, answer + 1, answer + 10, answer - 10}
    text = str(answer)
    if len(text) == 2 and text[0] != text[1]:
        misses.add(int(text[::-1]))
    return sorted(m for m in misses if m >= 0 and m != answer)


def arithmetic_prompts(profile: Profile) -> list[str]:
    n = profile.max_operand + 1
    return [f"{a}+{b}=" for a in range(n) for b in range(n)]


def arithmetic_demonstration(prompt: str, rng: random.Random) -> Demonstration:
    """The sloppy annotator: right ``ANNOTATOR_ACCURACY`` of the time, else a near miss."""
    answer = arithmetic_answer(prompt)
    if rng.random() < ANNOTATOR_ACCURACY:
        return Demonstration(prompt, str(answer))
    return Demonstration(prompt, str(rng.choice(near_misses(answer))))


def arithmetic_pair(prompt: str, rng: random.Random) -> PreferencePair:
    answer = arithmetic_answer(prompt)
    return PreferencePair(prompt, str(answer), str(rng.choice(near_misses(answer))))


# --- sentiment -----------------------------------------------------------------


def sentiment_prompts() -> list[str]:
    return [opening.format(noun) for opening in OPENINGS for noun in NOUNS]


def review_completion(rng: random.Random) -> str:
    """A few adjectives joined by connectives; the review's tone is random."""
    positivity = rng.random()  # this review's tone: share of positive adjectives
    words = []
    for i in range(rng.randint(2, 4)):
        if i:
            words.append(rng.choice(CONNECTIVES))
        pool = NEUTRAL if rng.random() < 0.2 else (POSITIVE if rng.random() < positivity else NEGATIVE)
        words.append(rng.choice(pool))
    return " " + " ".join(words) + " ."


def sentiment_demonstration(prompt: str, rng: random.Random) -> Demonstration:
    return Demonstration(prompt, review_completion(rng))


def sentiment_pair(prompt: str, rng: random.Random) -> PreferencePair:
    """Two reviews of the same prompt; the one with the higher reward is chosen."""
    while True:
        a, b = review_completion(rng), review_completion(rng)
        ra, rb = sentiment_reward(a), sentiment_reward(b)
        if ra != rb:
            return PreferencePair(prompt, a, b) if ra > rb else PreferencePair(prompt, b, a)


# --- assembly --------------------------------------------------------------------


def make_task_data(task: str, profile: Profile, seed: int) -> TaskData:
    """Build SFT data, train pairs and held-out pairs for one task, deterministically."""
    if task == "arithmetic":
        prompts, demo, pair = arithmetic_prompts(profile), arithmetic_demonstration, arithmetic_pair
    elif task == "sentiment":
        prompts, demo, pair = sentiment_prompts(), sentiment_demonstration, sentiment_pair
    else:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")
    rng = random.Random(f"{task}/{seed}")  # str seeds are hashed deterministically (not by hash())
    shuffled = prompts[:]
    rng.shuffle(shuffled)
    n_heldout = max(1, round(profile.heldout_fraction * len(shuffled)))
    heldout, train = sorted(shuffled[:n_heldout]), sorted(shuffled[n_heldout:])
    return TaskData(
        task=task,
        sft=[demo(rng.choice(prompts), rng) for _ in range(profile.n_sft_examples)],
        train_pairs=[pair(rng.choice(train), rng) for _ in range(profile.n_train_pairs)],
        heldout_pairs=[pair(rng.choice(heldout), rng) for _ in range(profile.n_heldout_pairs)],
        heldout_prompts=heldout,
    )
