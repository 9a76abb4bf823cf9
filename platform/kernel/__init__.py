"""The shared kernel: small building blocks every app may use; it imports nothing of ours."""
