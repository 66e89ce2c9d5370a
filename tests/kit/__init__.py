"""What every test suite shares: one timeout factor and one way to wait for state without an event."""
