//go:build !no_azure

package blobstore

import _ "gocloud.dev/blob/azureblob" // registers its URL scheme
