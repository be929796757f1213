"""The paper authors' LLaVA architecture (LlavaLlamaForCausalLM), registered into vLLM.

vLLM loads this package through the `vllm.general_plugins` entry point (see plugin.py) in
the API process, the engine core and every worker.
"""
