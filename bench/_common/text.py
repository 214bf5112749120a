"""Synthetic memories, conversations and queries for the benchmarks.

One-line facts from a dozen templates over small vocabularies: many share words and templates, so a
new fact has close neighbours among the stored ones (as real memories do) without being one of them.
Deterministic for a given ``random.Random`` state.
"""

from __future__ import annotations

import random

NAMES = ["Ana", "Ben", "Chloe", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jun", "Kira", "Leo", "Maya", "Nils", "Omar", "Pia", "Quinn", "Ravi", "Sara", "Tom", "Uma", "Vik", "Wen", "Yara", "Zoe"]
CITIES = ["Lisbon", "Berlin", "Osaka", "Denver", "Lagos", "Quito", "Oslo", "Hanoi", "Austin", "Porto", "Lyon", "Cairo", "Perth", "Seoul", "Lima", "Tallinn", "Zurich", "Boston", "Nairobi", "Krakow", "Dublin", "Madrid", "Bergen", "Accra", "Kyoto"]
FOODS = ["sushi", "ramen", "tacos", "paella", "pho", "falafel", "lasagna", "curry", "dumplings", "pierogi", "risotto", "ceviche", "bibimbap", "shakshuka", "goulash", "pad-thai", "burritos", "gnocchi", "croissants", "kimchi", "couscous", "empanadas", "moussaka", "tempura", "laksa"]
JOBS = ["nurse", "teacher", "plumber", "architect", "data-scientist", "pilot", "chef", "lawyer", "designer", "electrician", "pharmacist", "journalist", "carpenter", "accountant", "firefighter", "dentist", "translator", "librarian", "mechanic", "biologist"]
HOBBIES = ["hiking", "chess", "pottery", "climbing", "sailing", "painting", "running", "cycling", "knitting", "surfing", "gardening", "birdwatching", "photography", "fencing", "baking", "kayaking", "skiing", "drumming", "juggling", "origami"]
PETS = ["dog", "cat", "parrot", "rabbit", "hamster", "tortoise", "ferret", "goldfish", "iguana", "horse"]
LANGS = ["Spanish", "Japanese", "German", "Portuguese", "Korean", "Arabic", "Italian", "Swahili", "Dutch", "Polish", "Greek", "Hindi", "Turkish"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
COLORS = ["red", "blue", "green", "black", "white", "silver", "yellow", "orange"]
CARS = ["Volvo", "Toyota", "Tesla", "Fiat", "Skoda", "Honda", "Subaru", "Mazda"]

#: (memory type, template)
TEMPLATES: list[tuple[str, str]] = [
    ("preference", "Likes {food} from the place near {city} station"),
    ("preference", "Prefers {food} over {food2} for dinner"),
    ("factual", "Works as a {job} in {city}"),
    ("factual", "Has a {pet} named {name}"),
    ("episodic", "Visited {city} in {month} with {name}"),
    ("factual", "Sister {name} lives in {city} and works as a {job}"),
    ("procedural", "Goes {hobby} every {day} morning before work"),
    ("factual", "Is learning {lang} to talk with {name}"),
    ("factual", "Drives a {color} {car} bought in {city}"),
    ("preference", "Enjoys {hobby} and {hobby2} on weekends in {city}"),
    ("factual", "Is allergic to {food} and avoids it at {name}'s place"),
    ("episodic", "Met {name} at a {hobby} club in {city} last {month}"),
]


def fill(rng: random.Random, tpl: str) -> str:
    """``tpl`` with every slot drawn from the vocabularies."""
    food, food2 = rng.sample(FOODS, 2)
    hobby, hobby2 = rng.sample(HOBBIES, 2)
    return tpl.format(
        food=food, food2=food2, city=rng.choice(CITIES), job=rng.choice(JOBS), pet=rng.choice(PETS),
        name=rng.choice(NAMES), month=rng.choice(MONTHS), hobby=hobby, hobby2=hobby2, day=rng.choice(DAYS),
        lang=rng.choice(LANGS), color=rng.choice(COLORS), car=rng.choice(CARS),
    )


def corpus(n: int, seed: int) -> list[tuple[str, str]]:
    """n distinct (category, text) memories."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    while len(out) < n:
        cat, tpl = rng.choice(TEMPLATES)
        text = fill(rng, tpl)
        if text not in seen:
            seen.add(text)
            out.append((cat, text))
    return out


def new_fact(rng: random.Random, avoid: set[str] | frozenset[str] = frozenset()) -> str:
    """A fact shaped like the stored ones (same templates, so it has close neighbours) but not one of them."""
    while True:
        text = fill(rng, rng.choice(TEMPLATES)[1])
        if text not in avoid:
            return text


def conversation(rng: random.Random, avoid: set[str] | frozenset[str] = frozenset()) -> list[dict[str, str]]:
    """A user turn of 1 or 2 new fact sentences (→ 1-2 extracted facts) and an assistant reply."""
    k = rng.choice((1, 2))
    sentences = [new_fact(rng, avoid) + "." for _ in range(k)]
    return [
        {"role": "user", "content": " ".join(sentences)},
        {"role": "assistant", "content": "Noted, I will remember that."},
    ]


def query(rng: random.Random) -> str:
    """A search query about the user, naming something from the vocabularies."""
    return rng.choice((
        f"What does the user like to eat, e.g. {rng.choice(FOODS)}?",
        f"Where does the user work, maybe in {rng.choice(CITIES)}?",
        f"Who is {rng.choice(NAMES)} to the user?",
        f"Which hobbies like {rng.choice(HOBBIES)} does the user have?",
        f"Has the user been to {rng.choice(CITIES)}?",
    ))
