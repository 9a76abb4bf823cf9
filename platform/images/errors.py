"""The images app's one error: a code of the error catalogue and a message for people."""


class ImageError(Exception):
    def __init__(self, code: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.code, self.message, self.retryable = code, message, retryable
