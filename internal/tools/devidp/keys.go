package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// signingKey is one RS256 key the provider holds.
type signingKey struct {
	id   string
	priv *rsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.priv }
func (k *signingKey) ID() string                                  { return k.id }

// publicKey is a signing key as the key set (/keys) publishes it.
type publicKey struct{ k *signingKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return &p.k.priv.PublicKey }

// keyring holds the published keys; the newest signs. With a path, the
// keys are kept in that file, so a restarted provider signs and publishes
// what it did before, as a real one with a database does.
type keyring struct {
	mu   sync.Mutex
	path string
	keys []*signingKey
}

func openKeyring(path string) (*keyring, error) {
	kr := &keyring{path: path}
	if path != "" {
		raw, err := os.ReadFile(path)
		switch {
		case err == nil:
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(raw, &set); err != nil {
				return nil, fmt.Errorf("keys file %s: %w", path, err)
			}
			for _, k := range set.Keys {
				priv, ok := k.Key.(*rsa.PrivateKey)
				if !ok || k.KeyID == "" {
					return nil, fmt.Errorf("keys file %s: every key must be an RSA private key with a kid", path)
				}
				kr.keys = append(kr.keys, &signingKey{id: k.KeyID, priv: priv})
			}
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
	}
	if len(kr.keys) == 0 {
		if _, err := kr.rotate(); err != nil {
			return nil, err
		}
	}
	return kr, nil
}

// rotate makes a new key, signs with it from now on and withdraws the
// others: tokens they signed stop verifying once a client fetches the key
// set again.
func (kr *keyring) rotate() (string, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return "", err
	}
	k := &signingKey{id: hex.EncodeToString(id), priv: priv}
	kr.mu.Lock()
	defer kr.mu.Unlock()
	old := kr.keys
	kr.keys = []*signingKey{k}
	if err := kr.save(); err != nil {
		kr.keys = old
		return "", err
	}
	return k.id, nil
}

// save writes the private keys, replacing the file whole. Called with mu held.
func (kr *keyring) save() error {
	if kr.path == "" {
		return nil
	}
	var set jose.JSONWebKeySet
	for _, k := range kr.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv, KeyID: k.id, Algorithm: string(jose.RS256), Use: "sig"})
	}
	raw, err := json.Marshal(set)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(kr.path), ".keys-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), kr.path)
}

func (kr *keyring) signer() *signingKey {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	return kr.keys[len(kr.keys)-1]
}

func (kr *keyring) published() []op.Key {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	out := make([]op.Key, len(kr.keys))
	for i, k := range kr.keys {
		out[i] = publicKey{k}
	}
	return out
}
