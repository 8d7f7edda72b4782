"""What the worker decides about one notification: acknowledge it, or hand it back."""

from enum import StrEnum


class Verdict(StrEnum):
    """ACK: settled (or never to be evaluated); NACK: let it be delivered again later."""

    ACK = "ack"
    NACK = "nack"


ACK, NACK = Verdict.ACK, Verdict.NACK
