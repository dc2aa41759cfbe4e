"""The channels policy-engine ships: sms, email, voice, letter, legal, agent and webhook.

Each module is one plugin, registered through the ``policy_engine`` entry-point group of the
policy-engine distribution, so ``POLICY_ENGINE_PLUGINS`` can leave any of them out.
"""

from __future__ import annotations

__version__ = "0.1.0"
