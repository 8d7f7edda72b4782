"""Fixtures for the pique-safety tests."""

from __future__ import annotations

import socket

import pytest


@pytest.fixture
def no_network(monkeypatch):
    """Outbound connections raise, so a model that tried to download would fail the test."""

    def refuse(self, *args, **kwargs):
        raise OSError("outbound connections are blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
