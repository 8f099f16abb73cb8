"""A small client of the rule API (what ``photonflow analyse``, ``rules``, ``cancel`` and ``up --demo`` use)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from photonflow.errors import NotFoundError, PhotonflowError, ServerUnavailableError

__all__ = ["RuleAPI"]

_ENDED = ("complete", "failed", "cancelled")


class RuleAPI:
    """Talk to the rule service at ``url`` (``http://host:port``)."""

    def __init__(self, url: str, *, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._timeout = timeout_s

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", str(exc))
            except ValueError:
                message = str(exc)
            if exc.code == 404:
                raise NotFoundError(message) from None
            raise PhotonflowError(message) from None
        except OSError as exc:
            raise ServerUnavailableError(
                f"rule service at {self.url} does not answer ({exc}); is 'photonflow scheduler' running?"
            ) from exc

    def submit_localization(self, series: str, *, params: Mapping[str, Any] | None = None,
                            results: str | None = None, then: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Create a localization rule; returns the rule."""
        body = {"kind": "localization", "series": series, "params": dict(params or {}), "results": results,
                "then": dict(then) if then is not None else None}
        return dict(self._call("POST", "/api/rules", body))

    def submit_recipe(self, recipe: str, inputs: list[str], *, output_dir: str) -> dict[str, Any]:
        """Create a recipe rule; returns the rule."""
        return dict(self._call("POST", "/api/rules", {"kind": "recipe", "recipe": recipe, "inputs": inputs,
                                                      "output_dir": output_dir}))

    def rules(self) -> list[dict[str, Any]]:
        """Every rule."""
        return list(self._call("GET", "/api/rules"))

    def rule(self, rule_id: str) -> dict[str, Any]:
        """One rule with its tasks."""
        return dict(self._call("GET", f"/api/rules/{rule_id}"))

    def cancel(self, rule_id: str) -> dict[str, Any]:
        """Cancel a rule."""
        return dict(self._call("POST", f"/api/rules/{rule_id}/cancel"))

    def workers(self) -> list[dict[str, Any]]:
        """The Dask workers the scheduler knows (see :mod:`photonflow.compute.service` for the fields)."""
        return list(self._call("GET", "/api/workers"))

    def wait(self, rule_id: str, *, timeout_s: float, poll_s: float = 0.5, follow_chain: bool = True,
             progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Poll until the rule (and, with ``follow_chain``, the rules chained on it) ended; returns the last one.

        Raises
        ------
        TimeoutError
            Not ended within ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            rule = self.rule(rule_id)
            if progress is not None:
                progress(rule)
            if rule["status"] in _ENDED:
                if follow_chain and rule["status"] == "complete" and rule.get("child"):
                    rule_id = rule["child"]
                    continue
                return rule
            if time.monotonic() > deadline:
                raise TimeoutError(f"rule {rule_id} still {rule['status']} after {timeout_s:.0f} s")
            time.sleep(poll_s)
