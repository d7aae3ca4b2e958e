import hashlib
import itertools
import string

TARGET = hashlib.md5(b"gears").hexdigest()


def crack(prefix: str) -> str | None:
    """Try the 17,576 five-letter words that start with `prefix`."""
    for rest in itertools.product(string.ascii_lowercase, repeat=3):
        word = prefix + "".join(rest)
        if hashlib.md5(word.encode()).hexdigest() == TARGET:
            return word
    return None


def parse_price(text: str) -> float:
    """'12.50 EUR' -> 12.5"""
    amount, _currency = text.split()
    return float(amount)
