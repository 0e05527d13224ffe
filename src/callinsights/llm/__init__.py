"""Language-model engines (llama.cpp, gpt4all, an OpenAI-compatible server), model files and prompts."""
