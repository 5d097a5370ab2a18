"""The faults suite runs without the network, as the unit and integration tests do (pytest-socket)."""

from __future__ import annotations

import socket

import pytest
from pytest_socket import SocketBlockedError


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_a_faults_test_cannot_open_a_network_socket():
    with pytest.raises(SocketBlockedError):
        socket.create_connection(("192.0.2.1", 443), timeout=0.1)
