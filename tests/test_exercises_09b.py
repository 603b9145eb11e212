"""Chapter 09b exercises, graded by nbgrader: the solutions score full marks, the release
scores zero and leaks nothing, and each realistic wrong solution below loses points on its
own exercise only (see ``exercise_harness.check_assignment``)."""

from exercise_harness import check_assignment

ASSIGNMENT = "09b_inside_the_model"

# Each fake student makes one common mistake per exercise; the code replaces the whole
# ``<ex>-solution`` cell.
MISTAKES = {
    "wrong_1": {
        # Off by one: scores attention to the earlier copy of the *same* token (t - n), a
        # duplicate-token pattern, instead of the token after it (t - n + 1).
        "induction": '''
def induction_score(attn, half_len):
    if attn.size(-1) != 2 * half_len:
        raise ValueError("T must be 2 * half_len")
    t = torch.arange(half_len, 2 * half_len)
    return attn[:, :, t, t - half_len].mean(dim=(0, 2))
''',
        # A coin flip per letter: about the right rate on average, never exactly k edits.
        "noise": '''
def letter_noise(text, rate, seed=0):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")
    rng = random.Random(seed)
    out = []
    for ch in text:
        if ch in string.ascii_letters and rng.random() < rate:
            new = rng.choice([c for c in string.ascii_lowercase if c != ch.lower()])
            ch = new.upper() if ch.isupper() else new
        out.append(ch)
    return "".join(out)
''',
    },
    "wrong_2": {
        # Averages over every query, the first copy included (where no repeat exists yet),
        # so a perfect induction head scores about one half.
        "induction": '''
def induction_score(attn, half_len):
    if attn.size(-1) != 2 * half_len:
        raise ValueError("T must be 2 * half_len")
    T = attn.size(-1)
    t = torch.arange(half_len, T)
    picked = torch.zeros(attn.shape[:2] + (T,))
    picked[:, :, t] = attn[:, :, t, t - half_len + 1]
    return picked.mean(dim=(0, 2))
''',
        # Seeds the global generator (random.seed) instead of using a generator of its own,
        # and may "replace" a letter by itself, so fewer than k letters change.
        "noise": '''
def letter_noise(text, rate, seed=0):
    if not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be in [0, 1]")
    random.seed(seed)
    letters = [i for i, ch in enumerate(text) if ch in string.ascii_letters]
    k = math.floor(rate * len(letters) + 0.5)
    out = list(text)
    for i in random.sample(letters, k):
        new = random.choice(string.ascii_lowercase)
        out[i] = new.upper() if text[i].isupper() else new
    return "".join(out)
''',
    },
    # One class of hiding test input each (exercise_harness.INPUT_CLASSES).
    "size_one_axis": {
        # Scores the first sequence of the batch only (attn[0]): right while B = 1.
        "induction": '''
def induction_score(attn, half_len):
    if attn.size(-1) != 2 * half_len:
        raise ValueError("T must be 2 * half_len")
    t = torch.arange(half_len, 2 * half_len)
    return attn[0][:, t, t - half_len + 1].mean(dim=-1)
''',
        # Draws the positions with replacement (rng.choices): right while k <= 1, otherwise
        # a position drawn twice leaves fewer than k letters changed.
        "noise": '''
def letter_noise(text, rate, seed=0):
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    rng = random.Random(seed)
    letters = [i for i, ch in enumerate(text) if ch in string.ascii_letters]
    k = math.floor(rate * len(letters) + 0.5)
    out = list(text)
    for i in rng.choices(letters, k=k):
        new = rng.choice([c for c in string.ascii_lowercase if c != text[i].lower()])
        out[i] = new.upper() if text[i].isupper() else new
    return "".join(out)
''',
    },
    "counts_at_least_one": {
        # "At least one edit, so that a small rate still adds noise": wrong when k is 0
        # (right while rate * letters rounds to 1 or more).
        "noise": '''
def letter_noise(text, rate, seed=0):
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    rng = random.Random(seed)
    letters = [i for i, ch in enumerate(text) if ch in string.ascii_letters]
    k = max(1, math.floor(rate * len(letters) + 0.5))
    out = list(text)
    for i in rng.sample(letters, k):
        new = rng.choice([c for c in string.ascii_lowercase if c != text[i].lower()])
        out[i] = new.upper() if text[i].isupper() else new
    return "".join(out)
''',
    },
    "odd_item_last": {
        # Leaves out the last query ("it has no next token to predict"): right while the last
        # query attends like the others.
        "induction": '''
def induction_score(attn, half_len):
    if attn.size(-1) != 2 * half_len:
        raise ValueError("T must be 2 * half_len")
    t = torch.arange(half_len, 2 * half_len - 1)
    return attn[:, :, t, t - half_len + 1].mean(dim=(0, 2))
''',
    },
}


# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS).
SPEC = {"mutates_inputs": ["induction"]}

# Every exercise against every class of hiding input (exercise_harness.INPUT_CLASSES) and of
# spec mistake: the student who makes that mistake there, "spec", or why it cannot occur.
AUDIT = {
    "induction": {
        "initial_values": "n/a: a score of given attention maps; no parameters or state",
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "n/a: averages a fixed set of half_len >= 1 queries; no count "
                               "can be zero",
        "odd_item_last": "odd_item_last",
        "excluded_lowest": "n/a: nothing is excluded; the first copy's queries are left out "
                           "by position (wrong_2 counts them, and is caught)",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns an (H,) tensor, as promised",
        "detached": "n/a: a diagnostic of recorded attention maps, never trained through",
    },
    "noise": {
        "initial_values": "n/a: no parameters; the generator is made from seed in every call",
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "counts_at_least_one",
        "odd_item_last": "n/a: no position is special: the letters are drawn at random, and "
                         "the hidden tests at rate 1.0 change every one, first and last",
        "excluded_lowest": "n/a: nothing is scored; the original letter is removed from the "
                           "choices by an exact test",
        "mutates_inputs": "n/a: text is a str (immutable); rate and seed are numbers",
        "tensor_for_float": "n/a: returns a str; no float is promised",
        "detached": "n/a: string editing, nothing trainable",
    },
}


def test_exercises_09b():
    # Chapter 09 is three notebooks; its three-exercise minimum (issue 15) is met by 09a, and
    # this part adds two.
    check_assignment(ASSIGNMENT, MISTAKES, min_exercises=2, spec=SPEC, audit=AUDIT)
